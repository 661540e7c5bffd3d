"""The chaos run: goals through a private stack while its services, broker and database fail."""
