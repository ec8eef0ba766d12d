from tests.certification.test_framework_versions import *
def test_probe(client, framework):
    html = client.get(detail_url("2025.1")).content.decode()
    open("/tmp/h8_detail.html","w").write(html)
    html = client.post("/tier/", {"parameter_count":"80000000000","capabilities":["code_generation"],"emergent_capabilities":"no"}).content.decode()
    open("/tmp/h8_tier.html","w").write(html)
