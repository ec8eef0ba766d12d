def test_home_renders(client, db):
    response = client.get("/")
    assert response.status_code == 200
    assert b"Certify responsible AI model releases" in response.content


def test_dashboard_requires_login(client, db):
    response = client.get("/dashboard/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
