"""LocalStack extension: moto-backed providers for services missing from the free edition.

See providers.py (the providers), rds_docdb.py (moto RDS patch for DocumentDB) and
moto_fixes.py (small moto bug fixes).
"""
