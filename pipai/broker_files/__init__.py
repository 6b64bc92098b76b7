"""Files for the local Kafka broker: the pinned pom and the log4j2 config."""
