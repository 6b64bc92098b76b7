"""Read models built from the event log (the jobs view the API serves)."""
