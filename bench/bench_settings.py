"""Settings used only by bench/registry_bench.py: the production settings
(read from the environment exactly as in production: DEBUG=false, SECRET_KEY,
ALLOWED_HOSTS, DATABASE_URL, REDIS_URL, ...) plus a bench-only URLconf that adds
a bare JSON view next to the portal's URLs. Never used by the portal itself.
"""

from portal.settings import *  # noqa: F401,F403
from portal.settings import REST_FRAMEWORK

ROOT_URLCONF = "bench.bench_urls"

# The benchmark stands for many clients behind one reverse proxy: the load
# generator sends each request with a random client address in X-Forwarded-For,
# and the throttles read the address the (one) proxy appended, as a deployment
# behind a proxy should. The throttle rates themselves stay the production ones.
REST_FRAMEWORK = {**REST_FRAMEWORK, "NUM_PROXIES": 1}
