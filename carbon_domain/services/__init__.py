"""Services: the domain operations that read and write the database. No Celery, no HTTP."""
