from tests.certification.factories import make_release
from certification import modelcard
def test_show(framework, org, org_member):
    r = make_release(org, org_member, fill=True)
    print(modelcard.export_card(r))
