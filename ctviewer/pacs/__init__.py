"""PACS: nodes (DICOMweb, DIMSE), credentials in the keyring, find / retrieve / send, a cache.

`retrieve.py` is the front door; `dicomweb.py` and `dimse.py` speak the protocols through
dicomweb-client and pynetdicom; `config.py` keeps node names → URLs (no secret); `cache.py` is the
local, size-limited, least-recently-used study cache.
"""
