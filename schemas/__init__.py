"""Avro schemas (`*.avsc`, one per record) and their codec (`schemas.codec`)."""
