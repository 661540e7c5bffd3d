"""The local stack without Docker: Kafka, PostgreSQL, the LLM and every service as processes."""
