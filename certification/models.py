"""The certification app's models, one module per domain; Django loads them from here.

Import a model from its domain (``certification.releases.models``), not from this module:
a lower layer must not load a higher layer's models (see the README's architecture section).
"""

from certification.certificates.models import (  # noqa: F401
    Appeal,
    AppealVote,
    Certificate,
    CertifiedArtifact,
    ConcernReport,
    Decision,
    RevocationProposal,
)
from certification.framework.models import Benchmark, FrameworkVersion, Severity  # noqa: F401
from certification.releases.models import (  # noqa: F401
    AIModel,
    Application,
    ApplicationTransition,
    Artifact,
    Attestation,
    BenchmarkResult,
    ChangeRequest,
    ContactConfirmation,
    Documentation,
    DocumentationRevision,
    EvidenceFile,
    Release,
    Upstream,
)
from certification.review.models import (  # noqa: F401
    Enrolment,
    Finding,
    FindingAttachment,
    FindingResponse,
    Rejoinder,
    ReviewWindow,
)
from certification.transparency.models import (  # noqa: F401
    ReportFindingRollup,
    ReportIncidentRollup,
    ReportSnapshot,
    ReportTierRollup,
)
