"""Make sure a Redis answers at the effective REDIS_URL (settings, `.env`, environment).

If none answers and the URL points at this machine, start a daemonised
`redis-server` with its data under ./data/redis; otherwise exit 1 with a
one-line instruction. Run from the repository root with the project's venv.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import redis

from shared.settings import get_settings


def answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def main() -> int:
    url = get_settings().redis_url
    if answers(url):
        print(f"redis: answering at {url}")
        return 0
    parts = urlsplit(url)
    local = parts.scheme == "redis" and parts.hostname in ("127.0.0.1", "localhost", "::1")
    server = shutil.which("redis-server")
    if not (local and server):
        print(f"redis: nothing answers at {url}; start a Redis there (e.g. `docker run -d "
              f"-p 6379:6379 redis:7`) or set REDIS_URL", file=sys.stderr)
        return 1
    data = Path("data/redis").resolve()
    data.mkdir(parents=True, exist_ok=True)
    cmd = [server, "--daemonize", "yes", "--bind", "127.0.0.1", "--port", str(parts.port or 6379),
           "--dir", str(data), "--appendonly", "yes", "--maxmemory-policy", "noeviction",
           "--pidfile", str(data / "redis.pid"), "--logfile", str(data / "redis.log")]
    if parts.password:  # the URL carries a password: the server must ask for it
        cmd += ["--requirepass", parts.password]
    subprocess.run(cmd, check=True)
    for _ in range(50):
        if answers(url):
            print(f"redis: started redis-server for {url} (data in {data})")
            return 0
        time.sleep(0.1)
    print(f"redis: started redis-server but {url} does not answer; see {data}/redis.log",
          file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
