#!/usr/bin/env bash
# Run the API (gunicorn) and one Celery worker in the foreground, with settings
# from the environment and `.env`. Ctrl-C, or either process exiting, stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin

read -r host port concurrency queues admin < <("$bin/python" -c '
from shared.celery_app import QUEUES
from shared.settings import get_settings
s = get_settings()
print(s.api_host, s.api_port, s.worker_concurrency, ",".join(QUEUES),
      s.admin_key.get_secret_value() if s.admin_key else "(unset: app creation disabled)")')

echo "headstart: API on http://$host:$port  admin key: $admin"

# Stop our two children (not `kill 0`: that would also signal make and any
# script that called it, which share our process group) and wait for their
# graceful shutdown. A second Ctrl-C during that wait ends it at once.
stop() {
    trap - INT TERM EXIT
    kill $(jobs -p) 2>/dev/null || true
    wait || true
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$bin/gunicorn" 'api:create_app()' --bind "$host:$port" \
    --worker-class gthread --workers 2 --threads 8 &

# Models come from installed packages: never reach out to the Hugging Face Hub.
# glibc's allocator would mmap and unmap every large activation tensor, page-faulting
# it in again on each forward pass: one heap, kept, makes CPU inference ~2x faster
# (docs/benchmarks.md).
HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false \
GLIBC_TUNABLES="${GLIBC_TUNABLES:-$(cat scripts/malloc-tunables)}" \
    "$bin/celery" -A workers.celery_app worker --pool threads --concurrency "$concurrency" \
    -Q "$queues" --loglevel INFO &

wait -n  # returns when either process exits; the EXIT trap stops the other
