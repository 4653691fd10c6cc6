"""A client of a deployed pai HTTP API (`--backend api`): the memory and chat services the
CLI needs, served by the API instead of a home on this machine, for people who have no AWS
credentials of their own (a `pai login` token) or who prefer the API (SigV4).

    client.py    one HTTP call: JSON in and out, statuses as pai's errors
    sigv4.py     SigV4 signing (botocore's signer over httpx), for --auth iam
    sign_in.py   Cognito SRP sign-in, the token cache (0600), refresh and revocation
    records.py   the API's JSON back into pai's records
    memories.py  the memory service's commands the API serves (search, list, show, add,
                 forget); the others fail with one line (NotServed, exit 3)
    chat.py      the chat turn: POST /chat, answered whole (no streaming through API
                 Gateway; the reply is printed when it arrives)
"""
