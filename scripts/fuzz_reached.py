"""Whether a schemathesis run reached the handlers: every operation of the
OpenAPI document answered at least one 2xx in the run's HAR file. A run
whose token did not work would see only 401s, which the document allows;
this makes such a run fail. Usage: fuzz_reached.py OPENAPI_YAML HAR_FILE...
(the runs' files together)"""
import json
import re
import sys
from urllib.parse import urlsplit

import yaml

document = yaml.safe_load(open(sys.argv[1]))
entries = [e for har in sys.argv[2:] for e in json.load(open(har))["log"]["entries"]]
operations = {}
for path, item in document["paths"].items():
    pattern = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)) + "$"
    # A path item's `parameters` (and `summary`...) are no operations.
    for method in (m for m in item if m in ("get", "put", "post", "delete", "patch", "head", "options", "trace")):
        operations[(method.upper(), path)] = (re.compile(pattern), 0)
for entry in entries:
    method, url = entry["request"]["method"], urlsplit(entry["request"]["url"]).path
    status = entry["response"]["status"]
    # The most specific template (fewest variables) wins, as API Gateway picks.
    matches = [k for k, (p, _) in operations.items() if k[0] == method and p.match(url)]
    if matches and 200 <= status < 300:
        key = min(matches, key=lambda k: k[1].count("{"))
        pattern, ok = operations[key]
        operations[key] = (pattern, ok + 1)
missing = [f"{m} {p}" for (m, p), (_, ok) in sorted(operations.items()) if ok == 0]
if missing:
    print(f"fuzz-api: no 2xx answer at all from: {', '.join(missing)} (is the token valid?)", file=sys.stderr)
    sys.exit(1)
print(f"fuzz-api: every operation answered 2xx ({len(entries)} requests): " +
      ", ".join(f"{m} {p} {ok}" for (m, p), (_, ok) in sorted(operations.items())))
