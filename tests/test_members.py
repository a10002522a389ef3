"""Members: a lead invites by username, changes roles and removes people (their annotations
stay); a project always keeps a lead; site admins and leads create projects."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from labelapp.models import Annotation, Clip, ClipAssignment, Membership

pytestmark = pytest.mark.django_db


def members_url(project, user=None) -> str:
    base = f"/api/projects/{project.pk}/members/"
    return base if user is None else f"{base}{user.pk}/"


def test_a_lead_invites_changes_the_role_of_and_removes_a_member(
    client_for, lead, make_user, project
):
    newbie = make_user("newbie")
    client = client_for(lead)
    res = client.post(members_url(project), {"username": "newbie", "role": "annotator"})
    assert res.status_code == 201
    res = client.patch(members_url(project, newbie), {"role": "reviewer"}, format="json")
    assert res.status_code == 200 and res.json()["role"] == "reviewer"
    assert Membership.objects.get(project=project, user=newbie).role == "reviewer"
    assert client.delete(members_url(project, newbie)).status_code == 204
    assert not Membership.objects.filter(project=project, user=newbie).exists()
    assert client.delete(members_url(project, newbie)).status_code == 404


def test_a_lead_brings_in_a_colleague_with_no_account_yet(
    client_for, lead, annotator, project, client
):
    """Only a site admin could make an account (in Django's admin): a lead's team could not
    start. A first password makes it; a weak one, a bad name or an existing account is said."""
    from django.contrib.auth import get_user_model

    url = members_url(project)
    lead_client = client_for(lead)
    missing = lead_client.post(url, {"username": "maria", "role": "annotator"})
    assert missing.status_code == 400 and "give a first password" in missing.json()["detail"]
    weak = lead_client.post(url, {"username": "maria", "role": "annotator", "password": "maria1"})
    assert weak.status_code == 400 and weak.json()["code"] == "weak_password"
    odd = lead_client.post(url, {"username": "ma ria", "role": "annotator", "password": "x" * 20})
    assert odd.status_code == 400 and odd.json()["code"] == "invalid_username"
    taken = lead_client.post(
        url, {"username": annotator.username, "role": "annotator", "password": "Tr0ub4dor&3x"}
    )
    assert taken.status_code == 400 and taken.json()["code"] == "account_exists"
    case = lead_client.post(
        url,
        {"username": annotator.username.upper(), "role": "annotator", "password": "Tr0ub4dor&3x"},
    )
    assert case.status_code == 400 and case.json()["code"] == "account_exists"
    spaces = lead_client.post(url, {"username": "maria", "role": "annotator", "password": " " * 12})
    assert spaces.status_code == 400 and "only spaces" in spaces.json()["detail"]
    assert not get_user_model().objects.filter(username="maria").exists()
    made = lead_client.post(
        url, {"username": "maria", "role": "annotator", "password": "correct-horse-staple"}
    )
    assert made.status_code == 201 and made.json()["username"] == "maria"
    assert "password" not in made.json()
    maria = get_user_model().objects.get(username="maria")
    assert Membership.objects.get(project=project, user=maria).role == "annotator"
    assert client.login(username="maria", password="correct-horse-staple")
    # an annotator cannot make accounts
    denied = client_for(annotator).post(
        url, {"username": "mallory", "role": "lead", "password": "correct-horse-staple"}
    )
    assert denied.status_code == 403
    assert not get_user_model().objects.filter(username="mallory").exists()


def test_an_account_a_lead_made_chooses_its_own_password_before_anything_else(
    client_for, lead, project, client
):
    """A lead chose the first password and told it (a chat, a sticky note): its owner used it
    for good. Now a page takes them to the password page, the API with that session answers
    403, until they choose their own; then everything opens, and asks no more."""
    res = client_for(lead).post(
        members_url(project),
        {"username": "maria", "role": "annotator", "password": "correct-horse-staple"},
    )
    assert res.status_code == 201
    assert client.login(username="maria", password="correct-horse-staple")
    page = client.get(f"/projects/{project.pk}/")
    assert page.status_code == 302
    assert page["Location"].startswith("/accounts/password_change/?first=1")
    api = client.get(f"/api/projects/{project.pk}/")
    assert api.status_code == 403 and api.json()["code"] == "password_change_required"
    form = client.get("/accounts/password_change/")
    assert form.status_code == 200
    text = form.content.decode()
    assert f"{lead.username} chose the password you signed in with" in text
    assert client.get("/static/earmark/earmark.css").status_code in (200, 404)  # not held
    # "password changed" is no way out, nor the first password again, nor Basic auth with
    # it on the Label Studio endpoints (they take a password: the lead knows this one)
    done = client.get("/accounts/password_change/done/")
    assert done.status_code == 302 and done["Location"].startswith("/accounts/password_change/")
    same = client.post(
        "/accounts/password_change/",
        {
            "old_password": "correct-horse-staple",
            "new_password1": "correct-horse-staple",
            "new_password2": "correct-horse-staple",
        },
    )
    assert same.status_code == 200 and "That is the password you have now" in same.content.decode()
    import base64

    basic = base64.b64encode(b"maria:correct-horse-staple").decode()
    ml = type(client)().get(f"/ml/{project.pk}/versions", HTTP_AUTHORIZATION=f"Basic {basic}")
    assert ml.status_code == 401 and "choose your own" in ml.json()["detail"]
    # the members page says who has not signed in yet
    lead_page = type(client)()
    lead_page.force_login(lead)
    members = lead_page.get(f"/projects/{project.pk}/members/").content.decode()
    assert members.count('data-testid="member-first-password"') == 1
    # a lead's key on a request that carries a held session's cookie too: the key decides
    from labelapp.services.tokens import api_token_create

    _token, key = api_token_create(user=lead, name="script")
    keyed = client.get(f"/api/projects/{project.pk}/", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert keyed.status_code == 200
    # but a header no authenticator takes is the session's call, held: it made an API key
    # that outlived the hold
    for junk in ("x", "Digest abc", "Token abc", "Basic " + basic):
        api = client.get("/api/tokens/", HTTP_AUTHORIZATION=junk)
        assert api.status_code == 403, junk
        assert api.json()["code"] == "password_change_required", junk
        assert client.get(f"/projects/{project.pk}/", HTTP_AUTHORIZATION=junk).status_code == 302
    made = client.post("/api/tokens/", {"name": "sneaky"}, HTTP_AUTHORIZATION="x")
    assert made.status_code == 403
    changed = client.post(
        f"/accounts/password_change/?first=1&next=/projects/{project.pk}/annotate/",
        {
            "old_password": "correct-horse-staple",
            "new_password1": "maria's own phrase 42",
            "new_password2": "maria's own phrase 42",
            "next": f"/projects/{project.pk}/annotate/",
        },
    )
    assert changed.status_code == 302, changed.content
    assert changed["Location"] == f"/projects/{project.pk}/annotate/"  # where she was going
    assert client.get(f"/projects/{project.pk}/").status_code == 200
    ml = type(client)().get(
        f"/ml/{project.pk}/versions",
        HTTP_AUTHORIZATION="Basic " + base64.b64encode(b"maria:maria's own phrase 42").decode(),
    )
    assert ml.status_code != 401
    assert client.get(f"/api/projects/{project.pk}/").status_code == 200
    # the lead's own account, and anyone's who chose theirs, is never held
    other = type(client)()
    other.force_login(lead)
    assert other.get(f"/projects/{project.pk}/").status_code == 200
    assert (
        "chose the password you signed in with"
        not in other.get("/accounts/password_change/").content.decode()
    )


def test_the_list_gives_the_user_id_the_detail_url_takes(client_for, lead, make_user, project):
    """`id` is the membership's; `user_id` is what /members/<user_id>/ takes. A PATCH by the
    list's `user_id` changes that member, nobody else."""
    newbie = make_user("newbie")
    client = client_for(lead)
    created = client.post(members_url(project), {"username": "newbie", "role": "annotator"})
    assert created.json()["user_id"] == newbie.pk
    listed = {m["username"]: m for m in client.get(members_url(project)).json()}
    assert listed["newbie"]["user_id"] == newbie.pk
    res = client.patch(
        f"{members_url(project)}{listed['newbie']['user_id']}/", {"role": "reviewer"}, format="json"
    )
    assert res.json()["username"] == "newbie"
    roles = dict(Membership.objects.filter(project=project).values_list("user__username", "role"))
    assert roles["newbie"] == "reviewer" and roles[lead.username] == "lead"


def test_inviting_a_member_again_is_refused_and_keeps_their_role(
    client_for, lead, reviewer, project
):
    res = client_for(lead).post(
        members_url(project), {"username": reviewer.username, "role": "annotator"}
    )
    assert res.status_code == 409
    assert "already a member (reviewer)" in res.json()["detail"]
    assert Membership.objects.get(project=project, user=reviewer).role == "reviewer"


def test_removal_keeps_annotations_and_lets_go_of_held_clips(client_for, lead, annotator, project):
    from labelapp.services.annotations import annotation_submit
    from ontology.services import label_get_or_create_path

    label_get_or_create_path(ontology=project.ontology, path="birds/robin")
    clips = [
        Clip.objects.create(
            project=project, file=f"x/{i}.wav", sha256=f"{i}" * 64, original_name=f"{i}.wav",
            duration=3.0, status=Clip.Status.READY,
        )
        for i in range(2)
    ]  # fmt: skip
    annotation_submit(clip=clips[0], user=annotator, clip_labels=["birds/robin"])
    ClipAssignment.objects.create(
        clip=clips[1], user=annotator, project=project,
        expires_at=timezone.now() + timedelta(minutes=10),
    )  # fmt: skip
    assert client_for(lead).delete(members_url(project, annotator)).status_code == 204
    assert Annotation.objects.filter(annotator=annotator, clip__project=project).count() == 1
    assert not ClipAssignment.objects.filter(user=annotator).exists()
    # No longer a member: the project is closed to them, and they are told why.
    res = client_for(annotator).get(f"/api/projects/{project.pk}/")
    assert res.status_code == 403 and "no longer a member" in res.json()["detail"]


def test_only_a_lead_manages_members(client_for, reviewer, annotator, outsider, project):
    body = {"role": "lead"}
    assert client_for(reviewer).patch(members_url(project, annotator), body).status_code == 403
    assert client_for(annotator).delete(members_url(project, reviewer)).status_code == 403
    assert client_for(outsider).patch(members_url(project, annotator), body).status_code == 404
    assert Membership.objects.get(project=project, user=annotator).role == "annotator"
    assert Membership.objects.filter(project=project, user=reviewer).exists()


def test_a_project_keeps_at_least_one_lead(client_for, lead, reviewer, project):
    client = client_for(lead)
    res = client.patch(members_url(project, lead), {"role": "annotator"}, format="json")
    assert res.status_code == 409 and res.json()["code"] == "last_lead"
    assert client.delete(members_url(project, lead)).status_code == 409
    assert Membership.objects.get(project=project, user=lead).role == "lead"
    # With a second lead the first may step down.
    client.patch(members_url(project, reviewer), {"role": "lead"}, format="json")
    res = client.patch(members_url(project, lead), {"role": "annotator"}, format="json")
    assert res.status_code == 200


def test_a_lead_who_leaves_or_steps_down_is_told_so_on_the_next_page(
    client, lead, reviewer, make_user, project
):
    """The members page closes to them at once; the page the browser goes to next says why."""
    other = make_user("otto-lead")
    Membership.objects.create(project=project, user=other, role="lead")
    client.force_login(lead)
    url = members_url(project, lead)
    res = client.patch(url, {"role": "reviewer"}, content_type="application/json")
    assert res.status_code == 200
    page = client.get(f"/projects/{project.pk}/").content.decode()
    assert f"You are now reviewer of {project.name}" in page
    assert "You are now" not in client.get(f"/projects/{project.pk}/").content.decode()  # said once
    # Another member's role or removal is said on the members page itself, not here.
    client.force_login(other)
    res = client.patch(
        members_url(project, reviewer), {"role": "annotator"}, content_type="application/json"
    )
    assert res.status_code == 200
    assert client.delete(members_url(project, reviewer)).status_code == 204
    assert "You " not in "".join(
        line for line in client.get("/").content.decode().splitlines() if "flash" in line
    )
    assert client.delete(members_url(project, other)).status_code == 409  # the last lead
    client.force_login(lead)
    Membership.objects.filter(project=project, user=lead).update(role="lead")
    assert client.delete(url).status_code == 204
    page = client.get("/").content.decode()
    assert f"You left {project.name}. Your annotations in it stay" in page


def test_a_removed_member_saving_in_an_open_tab_is_told_why(
    client_for, lead, annotator, outsider, project
):
    """Their submit answered "clip not found" (404); one who never worked there still gets
    the 404 (a project's clips are not shown to outsiders)."""
    clip = Clip.objects.create(
        project=project, original_name="a.wav", sha256="c" * 64, status="ready", duration=1.0
    )
    body = {"clip_labels": [], "segments": []}
    client_for(annotator).put(f"/api/clips/{clip.pk}/draft/", {"data": body}, format="json")
    assert client_for(lead).delete(members_url(project, annotator)).status_code == 204
    res = client_for(annotator).post(f"/api/clips/{clip.pk}/annotations/", body, format="json")
    assert res.status_code == 403
    assert "no longer a member of the project" in res.json()["detail"]
    res = client_for(outsider).post(f"/api/clips/{clip.pk}/annotations/", body, format="json")
    assert res.status_code == 404


def test_inviting_unknown_or_disabled_users_is_a_clear_400(client_for, lead, make_user, project):
    make_user("gone", is_active=False)
    res = client_for(lead).post(members_url(project), {"username": "ghost", "role": "annotator"})
    assert res.status_code == 400 and "ghost" in res.json()["detail"]
    res = client_for(lead).post(members_url(project), {"username": "gone", "role": "annotator"})
    assert res.status_code == 400 and "disabled" in res.json()["detail"]
    res = client_for(lead).post(members_url(project), {"username": "gone", "role": "boss"})
    assert res.status_code == 400


def test_site_admins_and_leads_create_projects_and_others_are_told_whom_to_ask(
    client_for, lead, annotator, admin_user, make_user
):
    """A data lead saw no way to start a project and no word why (only site admins could)."""
    from django.contrib.auth.models import Permission
    from django.test import Client

    def page_for(user) -> str:
        browser = Client()
        browser.force_login(user)
        return browser.get("/").content.decode()

    from labelapp.services.projects import membership_set, project_create

    refused = client_for(lead).post("/api/projects/", {"name": "Frogs"})  # leads nothing yet
    assert refused.status_code == 403 and "ask a site admin" in refused.json()["detail"]
    res = client_for(admin_user).post("/api/projects/", {"name": "Frogs"})
    assert res.status_code == 201 and res.json()["name"] == "Frogs"

    birds = project_create(name="Birds", created_by=lead)  # now a lead
    membership_set(project=birds, user=annotator, role="annotator")
    res = client_for(lead).post("/api/projects/", {"name": "Bats"})
    assert res.status_code == 201 and res.json()["role"] == "lead"
    home = page_for(lead)
    assert 'data-testid="new-project"' in home and "You lead the project you create" in home
    # an annotator is told whom to ask
    assert client_for(annotator).post("/api/projects/", {"name": "Owls"}).status_code == 403
    home = page_for(annotator)
    assert 'data-testid="new-project"' not in home and 'data-testid="create-hint"' in home
    # a user an admin gave the right to
    maker = make_user("maker")
    maker.user_permissions.add(Permission.objects.get(codename="add_project"))
    res = client_for(maker).post("/api/projects/", {"name": "Owls"})
    assert res.status_code == 201 and res.json()["role"] == "lead"


def test_the_members_page_is_for_leads(client, lead, reviewer, project):
    client.force_login(lead)
    page = client.get(f"/projects/{project.pk}/members/")
    assert page.status_code == 200 and b"rita-reviewer" in page.content
    assert b'data-testid="members-link"' in client.get(f"/projects/{project.pk}/").content
    client.force_login(reviewer)
    assert client.get(f"/projects/{project.pk}/members/").status_code == 403


def test_a_site_admin_listed_with_another_role_is_said_to_have_a_leads_rights(
    project, lead, admin_user
):
    """The members page listed a site admin as "annotator" while they could do all a lead
    does."""
    from django.test import Client

    from labelapp.services.projects import membership_set

    membership_set(project=project, user=admin_user, role="annotator")
    browser = Client()
    browser.force_login(lead)
    html = browser.get(f"/projects/{project.pk}/members/").content.decode()
    row = html.split(f'data-username="{admin_user.username}"')[1].split("</tr>")[0]
    assert "(site admin: lead&#x27;s rights)" in row or "(site admin: lead's rights)" in row
    mine = html.split(f'data-username="{lead.username}"')[1].split("</tr>")[0]
    assert "site admin" not in mine and 'data-self="1"' in html


def test_a_lead_sees_who_holds_clips_and_gives_them_back(
    client_for, lead, annotator, reviewer, project
):
    """Why did the queue say "nothing left"? The members page said nobody held anything, and
    only removing the member freed their clips."""
    from django.test import Client

    from tests.conftest import ready_clips

    clips = ready_clips(project, 3)
    mine = client_for(annotator)
    for clip in clips[:2]:
        assert mine.post(f"/api/clips/{clip.pk}/lock/").json()["held"]
    browser = Client()
    browser.force_login(lead)
    html = browser.get(f"/projects/{project.pk}/members/").content.decode()
    row = html.split(f'data-username="{annotator.username}"')[1].split("</tr>")[0]
    assert "2 clips" in row and 'data-testid="member-release"' in row
    url = f"/api/projects/{project.pk}/members/{annotator.pk}/release/"
    assert client_for(reviewer).post(url).status_code == 403
    answer = client_for(lead).post(url)
    assert answer.status_code == 200 and answer.json() == {"released": 2}
    assert not ClipAssignment.objects.filter(user=annotator).exists()
    assert client_for(reviewer).post(f"/api/projects/{project.pk}/next/").status_code == 200


@pytest.mark.parametrize("user_id", [2**63, 10**20])
def test_a_member_id_past_64_bits_is_a_404(client_for, lead, project, user_id):
    """The database refused the query (OverflowError on SQLite): the member routes answered
    500 where 2**63 - 1 was a 404 (a security tester's sweep of every id)."""
    client = client_for(lead)
    url = f"/api/projects/{project.pk}/members/{user_id}/"
    answers = [
        client.delete(url),
        client.patch(url, {"role": "annotator"}, format="json"),
        client.post(f"{url}release/"),
    ]
    for answer in answers:
        assert answer.status_code == 404, answer.content
        assert answer.json()["detail"] == "no such member in this project"


def test_a_site_admin_who_is_no_member_is_said_to_be_one_and_no_members_is_said(
    client, admin_user, lead, project
):
    """The project page gave a site admin who is not a member a "lead" badge, and an empty
    Members card."""
    from labelapp.models import Membership

    client.force_login(admin_user)
    page = client.get(f"/projects/{project.pk}/").content.decode()
    assert 'data-testid="my-role">site admin<' in page
    Membership.objects.filter(project=project).delete()
    assert 'data-testid="no-members"' in client.get(f"/projects/{project.pk}/").content.decode()


def test_a_new_projects_lead_sees_its_first_steps_until_they_are_done(
    client, lead, annotator, project
):
    """'Start labeling' was the first button of a project with no labels, clips or people."""
    from labelapp.models import Membership
    from ontology.services import label_create
    from tests.conftest import ready_clips

    Membership.objects.filter(project=project).exclude(user=lead).delete()
    client.force_login(lead)
    page = client.get(f"/projects/{project.pk}/").content.decode()
    assert 'data-testid="getting-started"' in page
    assert "Build the label tree" in page and "Add annotators" in page
    label_create(ontology=project.ontology, name="robin")
    page = client.get(f"/projects/{project.pk}/").content.decode()
    assert "✓ 1 label in the" in page and "Import audio" in page
    ready_clips(project, 2)  # labels and audio: done, even for a lead who labels alone
    assert (
        'data-testid="getting-started"'
        not in client.get(f"/projects/{project.pk}/").content.decode()
    )


def test_no_password_of_spaces_anywhere(client, lead):
    """Twelve spaces passed Django's checks on the Password page (and `add_member`)."""
    client.force_login(lead)
    res = client.post(
        "/accounts/password_change/",
        {
            "old_password": "correct-horse-battery-staple",
            "new_password1": " " * 12,
            "new_password2": " " * 12,
        },
    )
    assert res.status_code == 200 and "only spaces" in res.content.decode()


def test_a_password_a_site_admin_chose_for_someone_is_changed_at_their_next_sign_in(
    admin_user, client
):
    """The admin's "add user" and "change password" pages chose passwords the admin kept
    knowing: both now hold the account as the Members page's first password does. The
    admin's own password set there is not held."""
    from django.contrib.auth import get_user_model

    from labelapp.models import PasswordToChange

    admin = type(client)()
    admin.force_login(admin_user)
    made = admin.post(
        "/admin/auth/user/add/",
        {
            "username": "zoe",
            "password1": "correct-horse-staple",
            "password2": "correct-horse-staple",
            "usable_password": "true",
        },
    )
    assert made.status_code == 302, made.content.decode()[:2000]
    zoe = get_user_model().objects.get(username="zoe")
    assert PasswordToChange.objects.get(user=zoe).set_by == admin_user
    assert client.login(username="zoe", password="correct-horse-staple")
    held = client.get("/")
    assert held.status_code == 302 and "/accounts/password_change/" in held["Location"]
    text = client.get("/accounts/password_change/").content.decode()
    assert f"{admin_user.username} chose the password you signed in with" in text
    changed = client.post(
        "/accounts/password_change/",
        {
            "old_password": "correct-horse-staple",
            "new_password1": "zoe-own-battery-7",
            "new_password2": "zoe-own-battery-7",
        },
    )
    assert changed.status_code == 302
    assert not PasswordToChange.objects.filter(user=zoe).exists()
    # a password the admin sets again ("I forgot mine") is held as well
    reset = admin.post(
        f"/admin/auth/user/{zoe.pk}/password/",
        {
            "password1": "admin-knows-this-1",
            "password2": "admin-knows-this-1",
            "set_usable_password": "true",
        },
    )
    assert reset.status_code == 302, reset.content.decode()[:2000]
    assert PasswordToChange.objects.filter(user=zoe).exists()
    # the admin's own, set on that page, is theirs
    own = admin.post(
        f"/admin/auth/user/{admin_user.pk}/password/",
        {
            "password1": "admin-own-battery-9",
            "password2": "admin-own-battery-9",
            "set_usable_password": "true",
        },
    )
    assert own.status_code == 302
    assert not PasswordToChange.objects.filter(user=admin_user).exists()
