"""Realistic Datadog-audit-shaped events, about 1 KB each, seeded.

Users, event names and client IPs follow Zipf distributions, as in real
audit trails where a few users and actions dominate. Writes JSON lines in
the shape a Datadog sender posts to /api/v2/logs.
"""

import argparse
import json
import random

EVENT_NAMES = ["Request", "Dashboard", "Monitor", "API Key", "Access Management", "Authentication",
               "Notebook", "Log Management", "Security Monitoring", "Synthetics", "Organization", "Integration"]
ACTIONS = ["accessed", "created", "modified", "deleted", "login", "logout"]
ASSETS = ["dashboard", "monitor", "api_key", "role", "user", "notebook", "integration", "pipeline"]
WORDS = ["request", "user", "dashboard", "monitor", "updated", "policy", "token", "session", "export",
         "query", "role", "permission", "invite", "billing", "key", "audit", "widget", "alert", "team"]


class Zipf:
    """Draws from `items` with the weight of rank r proportional to 1/r^s."""

    def __init__(self, items, s=1.2):
        self.items = items
        total = 0.0
        self.cumulative = []
        for rank in range(len(items)):
            total += 1 / (rank + 1) ** s
            self.cumulative.append(total)

    def draw(self, rng):
        return rng.choices(self.items, cum_weights=self.cumulative)[0]


NAMES = Zipf(EVENT_NAMES)


def make_event(rng, index, users, ips, base_ms):
    name = NAMES.draw(rng)
    user = users.draw(rng)
    action = rng.choice(ACTIONS)
    status = "error" if rng.random() < 0.03 else "info"
    words = " ".join(rng.choice(WORDS) for _ in range(18))
    if rng.random() < 0.0005:
        words += " suspicious"
    path = f"/api/v{rng.randint(1, 2)}/{rng.choice(ASSETS)}s/{rng.randint(1, 99999)}"
    return {
        "ddsource": "audit",
        "service": rng.choice(["web", "api", "auth", "billing"]),
        "hostname": f"host-{rng.randint(1, 40)}",
        "timestamp": base_ms + index * 3,
        "status": status,
        "message": f"{action.upper()} {path} by {user}: {words}",
        "ddtags": f"env:prod,team:{rng.choice(['core', 'sec', 'growth'])}",
        "usr": {"email": user, "id": user.split("@")[0].removeprefix("user"), "name": user.split("@")[0]},
        "evt": {"name": name, "actor": {"type": "USER"}, "outcome": "failure" if status == "error" else "success"},
        "action": action,
        "asset": {"type": rng.choice(ASSETS), "id": f"{rng.getrandbits(64):016x}"},
        "http": {"method": rng.choice(["GET", "POST", "PUT", "DELETE"]), "status_code": "403" if status == "error" else "200",
                 "url_details": {"path": path, "host": "api.example.com"}, "useragent": "Mozilla/5.0 (X11; Linux x86_64) evident-bench/1.0"},
        "network": {"client": {"ip": ips.draw(rng), "geoip": {"country": {"name": rng.choice(["France", "United States", "Japan", "Brazil"])}}}},
        "auth_method": rng.choice(["SESSION", "API + App Key", "OAUTH"]),
        "org": {"uuid": "4e2a8b0c-1f9d-4c7e-9a51-0d3b6c2f7e19"},
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--base-ms", type=int, required=True, help="timestamp of the first event, epoch ms")
    parser.add_argument("output")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    users = Zipf([f"user{n}@example.com" for n in range(5000)])
    ips = Zipf([f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}" for _ in range(20000)])
    with open(args.output, "w") as out:
        for index in range(args.events):
            out.write(json.dumps(make_event(rng, index, users, ips, args.base_ms), separators=(",", ":")))
            out.write("\n")


if __name__ == "__main__":
    main()
