"""HTTP front door: POST /goals → goals; reads goals back from PostgreSQL."""
