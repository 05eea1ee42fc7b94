"""Who is acting: a staff member, a customer, the policy engine or the system itself."""

from __future__ import annotations

from dataclasses import dataclass

STAFF_ROLES = ("agent", "warehouse", "finance", "supervisor", "admin", "platform")


@dataclass(frozen=True)
class Actor:
    kind: str  # staff | customer | system | policy
    role: str  # a staff role, or "customer", "system", "policy"
    merchant_id: int | None = None  # None: spans all merchants (platform, system)
    user_id: int | None = None
    customer_id: int | None = None
    name: str = ""
    must_enroll: bool = False  # the merchant requires a second factor this staff member has not set up yet

    @property
    def ref(self) -> str:
        """A short stable reference for logs: 'user:12', 'customer:5', 'system'."""
        if self.user_id is not None:
            return f"user:{self.user_id}"
        if self.customer_id is not None:
            return f"customer:{self.customer_id}"
        return self.kind

    @property
    def is_platform(self) -> bool:
        return self.merchant_id is None and self.kind in ("staff", "system")

    def can_see(self, merchant_id: int) -> bool:
        """Whether this actor may read or change data of `merchant_id`."""
        return self.merchant_id is None or self.merchant_id == merchant_id


SYSTEM = Actor(kind="system", role="system", name="system")
