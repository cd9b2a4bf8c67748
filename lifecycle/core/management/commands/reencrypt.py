"""`manage.py reencrypt`: every encrypted column brought in line with DATA_ENCRYPTION_KEYS and the settings."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from lifecycle.core.db.rotation import encrypted_columns, reencrypt_column


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted column (executions' inputs and outputs; templates' text and its history) "
        "with the first key of DATA_ENCRYPTION_KEYS: plain values are encrypted, values written with an older "
        "key are re-encrypted, and the templates' text is stored plain again if TEMPLATE_CONTENT_ENCRYPTION "
        "is off. A batch per transaction, safe while the server runs, and safe to run again. Fails (exit 1) "
        "if a value could not be decrypted with any key."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=1000, help="rows per transaction (default 1,000)")
        parser.add_argument("--dry-run", action="store_true", help="count what would change, change nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size, dry_run = options["batch_size"], options["dry_run"]
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        if not settings.DATA_ENCRYPTION_KEYS:
            self.stdout.write("DATA_ENCRYPTION_KEYS is not set: nothing is encrypted, encrypted values are unreadable")
        verb = "would change" if dry_run else "changed"
        changed = 0
        unreadable: list[str] = []
        for model, column in encrypted_columns():
            counts = reencrypt_column(model, column, batch_size=batch_size, dry_run=dry_run)
            changed += counts.changed
            how = [f"{counts.encrypted} encrypted", f"{counts.rotated} re-encrypted", f"{counts.decrypted} decrypted"]
            line = f"{counts.where} ({'encrypted' if counts.encrypts else 'plain'}): "
            line += f"would change {counts.changed}" if dry_run else f"{counts.changed} changed"
            if counts.changed:
                line += f" ({', '.join(part for part in how if not part.startswith('0 '))})"
            line += f", {counts.current} already so"
            if counts.unreadable:
                line += f", {len(counts.unreadable)} UNREADABLE"
            if counts.changed_meanwhile:
                line += f", {counts.changed_meanwhile} changed by others meanwhile (left as they are)"
            self.stdout.write(line)
            unreadable += [f"{counts.where} {pk}" for pk in counts.unreadable[:5]]
        self.stdout.write(f"{verb} {changed} values in all")
        if unreadable:
            raise CommandError(
                "Some values could not be decrypted with any key in DATA_ENCRYPTION_KEYS (add the key they were "
                f"written with, then run this again); the first: {', '.join(unreadable)}"
            )
