import json
import urllib.request
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from django.core.management.base import BaseCommand, CommandError

from mca.witness import Seen, witness


class Command(BaseCommand):
    help = (
        "Witness another installation's (or this one's) acceptance log: fetch its signed checkpoints from "
        "<base>/.well-known/mca-log/, verify them with its published key, store the heads seen, and report a fork "
        "(two heads for one sequence, a head that is not an extension of one seen before, a rollback). Exits "
        "non-zero on a fork."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("base_url", help="e.g. https://mca.example.com")
        parser.add_argument("--store", default="witness", help="folder for what was seen (one JSON file per log)")
        parser.add_argument("--key-id", help="pin the log's signing key id (as the CSP publishes it)")
        parser.add_argument("--timeout", type=float, default=20.0)

    def handle(self, *args, base_url: str, store: str, key_id: str | None, timeout: float, **options) -> None:
        root = urljoin(base_url.rstrip("/") + "/", ".well-known/mca-log/")
        if urlsplit(root).scheme not in ("http", "https"):
            raise CommandError("base_url must be an http(s) URL")

        def fetch(relative: str):
            with urllib.request.urlopen(urljoin(root, relative), timeout=timeout) as response:  # noqa: S310
                return json.loads(response.read().decode("utf-8"))

        path = Path(store) / f"{urlsplit(root).netloc.replace(':', '_')}.json"
        try:
            report, seen = witness(fetch, Seen.load(path), key_id=key_id)
        except (OSError, ValueError, KeyError) as error:
            raise CommandError(f"could not witness {root}: {error}") from error
        seen.save(path)
        for note in report.notes:
            self.stdout.write(note)
        if report.forks:
            raise CommandError("FORK: " + "\n  ".join(report.forks))
        newest = seen.newest()
        self.stdout.write(
            self.style.SUCCESS(
                f"{report.checked} checkpoint(s) verified; newest head seen #{newest[0] if newest else 0}; no fork "
                f"(stored in {path})"
            )
        )
