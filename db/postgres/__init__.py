"""The PostgreSQL backend of the storage seam: schema (``schema.py``) and store (``store.py``)."""
