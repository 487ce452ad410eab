from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from mca.db_roles import grant_runtime_role, runtime_role_problems


class Command(BaseCommand):
    help = (
        "PostgreSQL least privilege: give the runtime role (the one in DATABASE_URL of the web, worker and beat "
        "processes) read-write rights on the application's tables but only SELECT/INSERT on the acceptance log and "
        "SELECT on its chain head. Run as the owner (MIGRATE_DATABASE_URL) after each migrate; idempotent. "
        "--check only reports what differs and exits non-zero."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--role", default=settings.MCA_RUNTIME_DB_ROLE, help="The runtime role.")
        parser.add_argument("--check", action="store_true", help="Report what differs from the runtime rights.")
        parser.add_argument(
            "--create",
            action="store_true",
            help="Create the role (LOGIN, password from MCA_RUNTIME_DB_PASSWORD) when it does not exist.",
        )

    def handle(self, *args, role: str, check: bool, create: bool, **options) -> None:
        if not role:
            raise CommandError("Name the runtime role: --role NAME or MCA_RUNTIME_DB_ROLE.")
        try:
            if not check:
                password = settings.MCA_RUNTIME_DB_PASSWORD if create else None
                if create and not password:
                    raise CommandError("--create needs MCA_RUNTIME_DB_PASSWORD.")
                granted = grant_runtime_role(role=role, create_with_password=password)
                self.stdout.write(f"Runtime rights granted to {granted.role} on {granted.tables} tables.")
            problems = runtime_role_problems(role=role)
        except (RuntimeError, LookupError, ValueError) as error:
            raise CommandError(str(error)) from error
        if problems:
            raise CommandError(f"Role {role} does not have the runtime rights:\n  " + "\n  ".join(problems))
        self.stdout.write(
            self.style.SUCCESS(
                f"{role}: SELECT/INSERT only on the acceptance log, SELECT on its head, no table owned; "
                "read-write elsewhere."
            )
        )
