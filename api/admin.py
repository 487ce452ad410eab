from django.contrib import admin

from api.models import IdempotentResponse


@admin.register(IdempotentResponse)
class IdempotentResponseAdmin(admin.ModelAdmin):
    """Read-only: what the API will replay for a key (API tokens are managed under "Auth Token")."""

    list_display = ["key", "user", "status_code", "created_at"]
    list_filter = ["status_code"]
    search_fields = ["key", "user__username"]
    readonly_fields = ["user", "key", "request_hash", "status_code", "body", "created_at"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
