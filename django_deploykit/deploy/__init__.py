"""``manage.py deploy``: drive the compose stack that ``dockerize`` generated.

One concern per module: ``compose`` (the Compose v2 CLI and the stack model),
``target`` (the project on its engine), ``steps`` (plans, printing, failure and
Ctrl-C handling), ``images`` (revision tags), ``rolling`` (one-at-a-time
replacement with automatic rollback), ``code`` (the code/rollback/reindex
plans), ``sqlite`` (validating a database file), ``helper`` and ``remote_ops``
(one-off containers on the stack's volumes), ``backups`` (backup, restore,
retention), ``database`` (``deploy db`` and ``restore``), ``status`` (status
table and logs) and ``actions`` (from the command's options to a plan).
"""
