"""What two or more Podium services share: topics, events, Avro, Kafka, the LLM, settings."""
