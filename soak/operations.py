"""What a soak client does with the API once it holds a token: list, read, upload, change, delete,
albums, and probing another tenant's ids. Each checks what it can predict (soak.actor's `send`
counts every answer and refuses 5xx)."""

from __future__ import annotations

import hashlib
import io
import random
from collections.abc import Callable

import requests
from PIL import Image

from soak.ledger import DELETED, DELETING, LIVE, Ledger, Upload


class Operations:
    """The photo and album operations of `soak.actor.Actor` (a mixin: it holds the session and token)."""

    # Provided by Actor.
    api: Callable[..., requests.Response]
    ledger: Ledger
    rng: random.Random

    def list_photos(self) -> None:
        query = "?page_size=50" + ("&owner=me" if self.rng.random() < 0.3 else "")
        response = self.api("GET", f"photos/{query}")
        if "photos.read" not in self.scopes:
            self.ledger.check(
                "decision_as_expected", response.status_code == 403, f"list {response.status_code}"
            )
            return
        if not self.ledger.check(
            "live_token_accepted", response.status_code == 200, f"list {response.status_code}"
        ):
            return
        foreign = self.ledger.ids_of_other_tenants(self.tenant)
        for row in response.json()["results"]:
            self.ledger.check(
                "tenant_rows_only",
                row["id"] not in foreign and row["owner"]["username"].startswith(f"{self.tenant}-"),
                f"{self.username} listed {row['id']} of {row['owner']['username']}",
            )

    def _read(self, suffix: str) -> None:
        live = self.ledger.live(tenant=self.tenant)
        if not live or "photos.read" not in self.scopes:
            return
        upload = self.rng.choice(live)
        response = self.api("GET", f"photos/{upload.photo_id}/{suffix}")
        if response.status_code == 200:
            same = (
                hashlib.sha256(response.content).hexdigest() == upload.sha256
                if suffix
                else response.json()["owner"]["username"] == upload.owner
            )
            self.ledger.check("upload_retrievable", same, f"photo {upload.photo_id} came back different")
        elif response.status_code == 404:
            # Fine only if its owner had started deleting it (it marks that before sending DELETE).
            state = self.ledger.state_of(upload.photo_id)
            self.ledger.check(
                "upload_retrievable", state != LIVE, f"acknowledged photo {upload.photo_id} is 404"
            )
        else:
            self.ledger.check(
                "live_token_accepted", False, f"read {response.status_code} {response.text[:200]}"
            )

    def read_photo(self) -> None:
        self._read("")

    def read_image(self) -> None:
        self._read("image")

    def upload(self) -> None:
        self.uploads += 1
        picture = Image.frombytes("RGB", (12, 8), self.rng.randbytes(12 * 8 * 3))
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG")
        data = buffer.getvalue()
        response = self.api(
            "POST",
            "photos/",
            files={"image": ("p.png", data, "image/png")},
            data={"title": f"{self.tenant} photo by {self.username} #{self.uploads}"},
        )
        may = self.role != "Guest" and "photos.upload" in self.scopes
        self.ledger.check(
            "decision_as_expected", (response.status_code == 201) == may, f"upload {response.status_code}"
        )
        if response.status_code == 201:
            body = response.json()
            self.ledger.check(
                "upload_in_own_tenant",
                f"/api/t/{self.tenant}/" in body["image_url"] and body["owner"]["username"] == self.username,
                str(body),
            )
            digest = hashlib.sha256(data).hexdigest()
            self.ledger.acknowledge(Upload(body["id"], self.tenant, self.username, digest))

    def _own(self) -> Upload | None:
        live = self.ledger.live(tenant=self.tenant, owner=self.username)
        return self.rng.choice(live) if live else None

    def update(self) -> None:
        upload = self._own()
        if upload is None:
            return
        response = self.api("PATCH", f"photos/{upload.photo_id}/", json={"title": f"{self.tenant} renamed"})
        may = "photos.update" in self.scopes
        self.ledger.check(
            "decision_as_expected", (response.status_code == 200) == may, f"patch {response.status_code}"
        )

    def delete(self) -> None:
        upload = self._own()
        if upload is None:
            return
        self.ledger.set_state(upload.photo_id, DELETING)
        response = self.api("DELETE", f"photos/{upload.photo_id}/")
        may = "photos.delete" in self.scopes
        self.ledger.check(
            "decision_as_expected", (response.status_code == 204) == may, f"delete {response.status_code}"
        )
        self.ledger.set_state(upload.photo_id, DELETED if response.status_code == 204 else LIVE)

    def albums_mix(self) -> None:
        if self.albums and self.rng.random() < 0.3:
            album = self.albums.pop()
            response = self.api("DELETE", f"albums/{album}/")
        elif self.albums and self.rng.random() < 0.4:
            response = self.api(
                "PATCH", f"albums/{self.rng.choice(self.albums)}/", json={"name": f"{self.tenant} a"}
            )
        elif self.rng.random() < 0.5:
            response = self.api("POST", "albums/", json={"name": f"{self.tenant} album of {self.username}"})
            if response.status_code == 201:
                self.albums.append(response.json()["id"])
        else:
            response = self.api("GET", "albums/?page_size=50")
            if response.status_code == 200:
                for row in response.json()["results"]:
                    self.ledger.check(
                        "tenant_rows_only",
                        row["owner"]["username"].startswith(f"{self.tenant}-"),
                        f"{self.username} listed album {row['id']} of {row['owner']['username']}",
                    )
        writes = self.role != "Guest" and "albums.write" in self.scopes
        if response.request.method != "GET":
            ok = response.status_code < 300 if writes else response.status_code == 403
            self.ledger.check(
                "decision_as_expected", ok, f"album {response.request.method} {response.status_code}"
            )

    def me(self) -> None:
        response = self.api("GET", "me/")
        if response.status_code == 200:
            body = response.json()
            self.ledger.check(
                "tenant_rows_only",
                body["tenant"]["slug"] == self.tenant and body["user"]["username"] == self.username,
                str(body)[:200],
            )

    def other_tenants_ids(self) -> None:
        """IDOR under load: the other tenant's live photos, by id, through every door."""
        foreign = self.ledger.live(tenant=self.other)
        if foreign:
            target = self.rng.choice(foreign).photo_id
            method, suffix, body = self.rng.choice(
                [
                    ("GET", "", None),
                    ("GET", "image", None),
                    ("PATCH", "", {"title": "x"}),
                    ("DELETE", "", None),
                ]
            )
            response = self.api(method, f"photos/{target}/{suffix}", json=body)
            # 404 like a missing id; or 403 when the scope or role refuses before any object is looked at.
            refused_early = response.status_code == 403 and response.json().get("reason") in {
                "scope_missing",
                "role_forbids",
            }
            self.ledger.check(
                "other_tenants_ids_404",
                response.status_code == 404 or refused_early,
                f"{self.username}: {method} foreign photo {target}: {response.status_code}",
            )
        wrong_door = self.send(
            self.http,
            "GET",
            f"/api/t/{self.other}/photos/",
            headers={"Authorization": f"Bearer {self.token}"},
        )
        self.ledger.check("other_tenants_ids_404", wrong_door.status_code == 404, f"{wrong_door.status_code}")
