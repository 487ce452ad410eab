import uuid
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from bss.models import Account
from mca.export import customer_accounts, export_evidence_pack
from mca.models import AcceptanceRecord

DEFAULT_OUT = "evidence"  # ignored by git (.gitignore)
MAX_CANDIDATES = 10


def _describe(account: Account) -> str:
    tenant = f"tenant {account.partner_center_tenant_id}" if account.is_synced else "not synced"
    return f"  id {account.pk}: {account.name} ({account.owner_name}, {tenant})"


def _candidates(accounts: list[Account]) -> str:
    lines = [_describe(account) for account in accounts[:MAX_CANDIDATES]]
    if len(accounts) > MAX_CANDIDATES:
        lines.append(f"  … and {len(accounts) - MAX_CANDIDATES} more")
    return "\n".join(lines)


def _one_customer(accounts: list[Account]) -> bool:
    """Several accounts are still one Microsoft customer when they share one tenant (the export covers all)."""
    tenants = {account.partner_center_tenant_id for account in accounts}
    return len(tenants) == 1 and None not in tenants


def resolve_account(value: str) -> Account:
    """An account from an id, a Partner Center tenant id or a name (exact, any case); CommandError otherwise."""
    accounts = Account.objects.select_related("reseller").order_by("pk")
    value = value.strip()
    if not value:
        raise CommandError("Name the customer: an account id, its name or its Partner Center tenant id.")
    if value.isdigit():
        found = accounts.filter(pk=int(value)).first()
        if found is not None:
            return found
    try:
        tenant = uuid.UUID(value)
    except ValueError:
        tenant = None
    if tenant is not None:
        found = accounts.filter(partner_center_tenant_id=tenant).first()
        if found is None:
            raise CommandError(f"No account has the Partner Center tenant id {tenant}.")
        return found
    named = list(accounts.filter(name__iexact=value))
    if len(named) == 1 or (named and _one_customer(named)):
        return named[0]
    if named:
        raise CommandError(
            f"{len(named)} accounts are named {value!r} and they are different customers; "
            f"give the account id or tenant id of one:\n{_candidates(named)}"
        )
    similar = list(accounts.filter(name__icontains=value))
    message = f"No account with id {value}" if value.isdigit() else f"No account named {value!r}"
    if similar:
        raise CommandError(f"{message}. Accounts whose name contains it:\n{_candidates(similar)}")
    raise CommandError(f"{message}.")


class Command(BaseCommand):
    help = (
        "Export the MCA acceptance evidence of one customer (R14): every record of its Microsoft customer, the "
        "chain check, Partner Center's delivery answers and a README, into a new folder (by default under "
        "./evidence/, which git ignores). Name the customer by account id, name or Partner Center tenant id."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "customer", nargs="?", help="Account id, account name (exact, any case) or Partner Center tenant id."
        )
        parser.add_argument("--account", help="The same as the positional argument (kept for scripts).")
        parser.add_argument(
            "--out", default=DEFAULT_OUT, help=f"Directory to create the evidence folder in (default: {DEFAULT_OUT})."
        )

    def handle(self, *args, customer: str | None, account: str | None, out: str, **options) -> None:
        if customer and account and customer != account:
            raise CommandError("Name the customer once: either positionally or with --account, not both.")
        wanted = customer or account
        if not wanted:
            raise CommandError("Name the customer: an account id, its name or its Partner Center tenant id.")
        found = resolve_account(str(wanted))
        out_dir = Path(out)
        if out_dir.exists() and not out_dir.is_dir():
            raise CommandError(f"--out {out} is not a directory.")
        try:
            folder = export_evidence_pack(found, out_dir)
        except OSError as error:
            raise CommandError(f"Could not write the evidence under {out_dir}: {error}") from error
        records = AcceptanceRecord.objects.filter(account__in=customer_accounts(found)).count()
        label = f"{found.name} (account {found.pk}, {found.owner_name})"
        if records == 0:
            self.stdout.write(
                self.style.WARNING(f"Note: no acceptance record for {found.name}: the export shows what is known.")
            )
            self.stdout.write(f"Evidence for {label} written to {folder}")
            return
        self.stdout.write(self.style.SUCCESS(f"Evidence for {label}: {records} record(s) written to {folder}"))
