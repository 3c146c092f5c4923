"""The sync engine: reads the server's state, plans, writes, proves.

``server`` is the REST layer (httpx), ``manifest`` the local record of what a version holds,
``sync`` the planner (a pure function) and the run loop, ``versions`` diffs of two versions.
It never imports ``phoenix``; the API layer (``client``, ``async_client``, ``cli``) sits on it.
"""
