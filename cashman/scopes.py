"""The two scopes of the transactions API (SPEC §3, Authorization).

A token grants them through its ``scope`` claim or Auth0's ``permissions`` claim;
``auth.requires_scope`` checks either.
"""

READ = "read:transactions"  # every GET of transaction data
WRITE = "write:transactions"  # POST, PATCH and DELETE
