"""The server's memory of recent page-render answers (which person an identifier names, a
person's graph, a person's profile), kept true to this server's writes by wrapping the stores
(cached_stores.py) and to other servers' writes by following the change feed (tail.py)."""
