"""Authentication and authorization of upgrade requests (spec §5.2) and the client's
``Authorization`` header (spec §4.1 ``auth``), through ``twisted.cred``."""
