"""Imports every domain's models so Alembic sees one complete metadata."""

from sichrplace.accounts import models as accounts_models  # noqa: F401
from sichrplace.analytics import models as analytics_models  # noqa: F401
from sichrplace.contracts import models as contracts_models  # noqa: F401
from sichrplace.listings import models as listings_models  # noqa: F401
from sichrplace.media import models as media_models  # noqa: F401
from sichrplace.messaging import models as messaging_models  # noqa: F401
from sichrplace.notifications import models as notifications_models  # noqa: F401
from sichrplace.payments import models as payments_models  # noqa: F401
from sichrplace.platform.db.base import Base
from sichrplace.platform.events import models as events_models  # noqa: F401
from sichrplace.privacy import models as privacy_models  # noqa: F401
from sichrplace.search.suggest import models as suggest_models  # noqa: F401
from sichrplace.viewings import models as viewings_models  # noqa: F401

metadata = Base.metadata

__all__ = ["metadata"]
