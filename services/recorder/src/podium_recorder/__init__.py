"""every topic → PostgreSQL: the queryable read model."""
