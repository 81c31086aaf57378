"""``manage.py dockerize``: detect the live project, plan, render, write, build.

``detect`` → ``plan`` → ``render`` → ``writer`` (→ ``engine`` for ``--build``).
"""
