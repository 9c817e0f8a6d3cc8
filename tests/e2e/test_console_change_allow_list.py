"""The channel allow-list in the console over HTTP on both databases: the raise form's grid
prefilled with the allow-list in force, a request raised through it, its page showing the types
added and removed per channel, and the computed assessment naming the partner stream."""

from __future__ import annotations

import re
from typing import Any

import pytest
from test_console import csrf_of, sign_in

from labgate.bootstrap import Hub
from plant import SITE, Plant, SeededPlant
from senders import Sender, register, request

LIST = f"/console/sites/{SITE}/change-requests"
REMOVED = "labgate.sample_request.v1"


@pytest.fixture
def plant(hub: Hub, client: Any, seeded_plant: SeededPlant) -> Plant:
    return seeded_plant.on(client)


def ticked(html: str) -> dict[str, str]:
    """The allow-list grid's boxes as the browser would post them (ticked ones only)."""
    return dict.fromkeys(re.findall(r'name="((?:restrict|carry)-[^"]+)" value="on"[^>]*checked',
                                    html), "on")  # fmt: skip


@pytest.mark.requirement("URS-A11-10", "URS-A11-5", category="positive")
def test_the_grid_raises_an_allow_list_change_whose_page_shows_what_each_channel_loses(
    plant: Plant, hub: Hub
) -> None:
    mes = Sender(hub, "mes", "requests", "mes-1", register(hub, "mes", "mes-1"))
    assert hub.inbox.receive(request(mes, "ALC-1"), "rest", caller="mes").status == "applied"
    sign_in(plant.client, "admin", plant.passwords["admin"])
    page = plant.client.get(LIST).text
    assert "Channel allow-list…" in page and 'id="allow-grid"' in page
    boxes = ticked(page)
    # Nothing restricted as installed: every type ticked on every channel, no channel restricted.
    assert not any(name.startswith("restrict-") for name in boxes)
    assert f"carry-rest-{REMOVED}" in boxes
    form = {**boxes, "restrict-rest": "on", "csrf_token": csrf_of(page),
            "kind": "channel_allow_list", "title": "Sample requests over AMQP only",
            "reason": "Interface decision ID-12", "effective_from": ""}  # fmt: skip
    del form[f"carry-rest-{REMOVED}"]
    raised = plant.client.post(LIST, data=form, follow_redirects=False)
    assert raised.status_code == 303, raised.text
    code = raised.headers["location"].split("/")[-1].split("?")[0]
    proposal = plant.call("auditor", "GET", f"/change-requests/{code}").json()["proposal"]
    assert list(proposal["channels"]) == ["rest"] and REMOVED not in proposal["channels"]["rest"]

    html = plant.client.get(f"{LIST}/{code}").text
    row = re.search(r'<tr class="change-changed" data-channel="rest">.*?</tr>', html, re.S)
    assert row is not None and f"\N{MINUS SIGN} {REMOVED}" in row.group(0)
    assert 'data-channel="amqp"' not in html.split('id="channel-effects"')[1].split("</table>")[0]
    form = {"csrf_token": csrf_of(html)}
    assert plant.client.post(f"{LIST}/{code}/assessment", data=form).status_code == 200
    html = plant.client.get(f"{LIST}/{code}").text
    assert f"<code>mes/requests</code> ({REMOVED} over rest)" in html
    assert "Why no open sample or batch" in html


@pytest.mark.requirement("URS-A11-10", category="negative")
def test_a_restricted_channel_with_nothing_ticked_carries_nothing_and_csrf_is_required(
    plant: Plant,
) -> None:
    sign_in(plant.client, "admin", plant.passwords["admin"])
    page = plant.client.get(LIST).text
    form = {"csrf_token": csrf_of(page), "kind": "channel_allow_list", "restrict-mqtt": "on",
            "title": "Close MQTT", "reason": "Interface decision ID-13",
            "effective_from": "2031-01-01T00:00:00"}  # fmt: skip
    closed = plant.client.post(LIST, data=form, follow_redirects=False)
    assert closed.status_code == 303  # restricted, nothing ticked: MQTT carries nothing
    code = closed.headers["location"].split("/")[-1].split("?")[0]
    html = plant.client.get(f"{LIST}/{code}").text
    assert "nothing" in html.split('data-channel="mqtt"')[1].split("</tr>")[0]
    no_csrf = plant.client.post(LIST, data={k: v for k, v in form.items() if k != "csrf_token"})
    assert no_csrf.status_code == 403
