"""One error hierarchy for synthembed. Every message says what happened and what to do next.

::

    SynthembedError
    ├── RecipeError (ValueError)            a recipe file is missing, unreadable or invalid
    ├── ConfigError (ValueError)            a setting outside the recipe is wrong (a CLI option, env)
    ├── MissingKeyError (ConfigError)       an API key is not in the environment
    ├── ProviderError                       a provider call failed
    │   ├── RetryableError                  may succeed if sent again (timeouts, 5xx, dropped connections)
    │   │   └── RateLimitError              HTTP 429; carries retry_after
    │   └── FatalProviderError              will not succeed if sent again; stops the run
    │       ├── AuthenticationError         bad or missing key, no permission
    │       ├── BadRequestError             the provider rejected the request (model name, params)
    │       └── BillingError                the account has no credit left
    ├── BudgetExhausted                     the budget cap cannot cover another request
    ├── RunStoreError                       the run directory or its database is unusable
    └── ReleaseError                        a release cannot be built or published

The CLI turns these into one clear line and a non-zero exit; anything else keeps its traceback.
"""

from __future__ import annotations


class SynthembedError(Exception):
    """Base class of every error synthembed raises on purpose."""

    exit_code = 1


class RecipeError(SynthembedError, ValueError):
    """A recipe file is missing, unreadable, or fails validation."""

    exit_code = 2


class ConfigError(SynthembedError, ValueError):
    """A setting outside the recipe (a CLI option, an environment variable) is wrong."""

    exit_code = 2


class MissingKeyError(ConfigError):
    """The provider needs an API key that the environment does not hold."""

    def __init__(self, env_var: str, provider: str) -> None:
        self.env_var = env_var
        self.provider = provider
        super().__init__(
            f"No {env_var} set for provider '{provider}': export {env_var}=..., "
            "or use `provider: {kind: local}` in the recipe to run the embedded model without a key"
        )


class ProviderError(SynthembedError):
    """A call to a provider failed."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class RetryableError(ProviderError):
    """A failure that may succeed if the same request is sent again.

    ``maybe_billed`` is True when the provider may have done (and charged for) the work even though
    no answer reached us, such as a timeout or a connection dropped mid-response. The budget then
    keeps that attempt's worst case as spent.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        maybe_billed: bool = False,
    ) -> None:
        self.retry_after = retry_after
        self.maybe_billed = maybe_billed
        super().__init__(message, status=status)


class RateLimitError(RetryableError):
    """HTTP 429 from the provider."""

    def __init__(
        self,
        message: str = "rate limited",
        *,
        retry_after: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.headers = headers or {}
        super().__init__(message, status=429, retry_after=retry_after)


class FatalProviderError(ProviderError):
    """A failure that sending again will not fix; it stops the run."""

    exit_code = 3


class AuthenticationError(FatalProviderError):
    """The key was refused or lacks permission."""


class BadRequestError(FatalProviderError):
    """The provider rejected the request itself (unknown model, bad parameter)."""


class BillingError(FatalProviderError):
    """The provider account cannot pay for more requests."""


class BudgetExhausted(SynthembedError):
    """The budget cap cannot cover another request."""

    exit_code = 4


class RunStoreError(SynthembedError):
    """The run directory or its database cannot be used."""


class ReleaseError(SynthembedError):
    """A release cannot be built, read or published."""
