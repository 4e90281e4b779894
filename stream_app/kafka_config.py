"""How every process connects to Kafka: one model, one factory per client library.

``StreamSettings.kafka`` (environment ``MOVIEREC_KAFKA__*``) holds the security settings,
``StreamSettings.bootstrap_servers`` the servers; ``StreamSettings.connection()`` joins them
into a :class:`KafkaConnection`, which builds the config of every confluent-kafka client
(``client_config``), the faust app's broker arguments (``faust_broker_kwargs``) and a child
worker's environment (``worker_env``). The password is a ``SecretStr``: it shows as
``**********`` in reprs and logs, and only the client configs hold it in clear.

Example (SASL over TLS)::

    MOVIEREC_BOOTSTRAP_SERVERS=kafka-1:9093
    MOVIEREC_KAFKA__SECURITY_PROTOCOL=SASL_SSL
    MOVIEREC_KAFKA__SASL_MECHANISM=SCRAM-SHA-512
    MOVIEREC_KAFKA__SASL_USERNAME=movierec
    MOVIEREC_KAFKA__SASL_PASSWORD=...
    MOVIEREC_KAFKA__SSL_CAFILE=/etc/kafka/ca.pem
"""
from __future__ import annotations

import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from confluent_kafka import KafkaError, KafkaException
from pydantic import BaseModel, ConfigDict, SecretStr, model_validator

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class LoginRefused(KafkaException):
    """The broker refused this client's SASL or TLS login: retrying with the same settings cannot help."""

    def __str__(self) -> str:
        err = self.args[0] if self.args else None
        return f"the broker refused the login: {err.str() if isinstance(err, KafkaError) else err}"


class RefusedLogin:
    """A librdkafka ``error_cb`` that remembers a refused login (librdkafka only logs it and
    retries forever); ``check`` raises :class:`LoginRefused` once one was seen. Callbacks run
    inside the client's ``poll``/``flush``/``consume``."""

    def __init__(self) -> None:
        self.error: KafkaError | None = None

    def __call__(self, err: KafkaError) -> None:
        if err.code() in (KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED, KafkaError._SSL) \
                or err.fatal():
            self.error = self.error or err

    def check(self) -> None:
        if self.error is not None:
            raise LoginRefused(self.error)


class KafkaSecurity(BaseModel):
    """How to authenticate to the brokers and encrypt the connection (default: neither)."""

    # hide_input_in_errors: a validation error would otherwise print the password
    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True, hide_input_in_errors=True)

    security_protocol: SecurityProtocol = "PLAINTEXT"
    """PLAINTEXT, SSL (TLS), SASL_PLAINTEXT (login, no TLS) or SASL_SSL (login over TLS)."""
    sasl_mechanism: SaslMechanism = "PLAIN"
    """SASL mechanism for the SASL_* protocols."""
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    """Never logged; the SASL_* protocols need it and the user name."""
    ssl_cafile: Path | None = None
    """PEM file of the CA(s) that signed the brokers' certificates; None: the system's CAs."""
    ssl_certfile: Path | None = None
    """PEM client certificate, for brokers that require one (mutual TLS; with ``ssl_keyfile``)."""
    ssl_keyfile: Path | None = None
    """PEM private key of ``ssl_certfile`` (unencrypted)."""

    @model_validator(mode="after")
    def _consistent(self) -> KafkaSecurity:
        sasl = self.security_protocol.startswith("SASL_")
        if sasl and (not self.sasl_username or self.sasl_password is None):
            raise ValueError(f"security_protocol {self.security_protocol} needs sasl_username and sasl_password")
        if not sasl and (self.sasl_username or self.sasl_password is not None):
            raise ValueError(f"SASL credentials are set but security_protocol is {self.security_protocol}: "
                             "they would not be used (set SASL_PLAINTEXT or SASL_SSL)")
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("ssl_certfile and ssl_keyfile go together")
        if not self.uses_tls and (self.ssl_cafile or self.ssl_certfile):
            raise ValueError(f"TLS files are set but security_protocol is {self.security_protocol}")
        return self

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")


class KafkaConnection(BaseModel):
    """Where the brokers are and how to talk to them; builds every client's configuration."""

    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

    bootstrap_servers: str
    security: KafkaSecurity = KafkaSecurity()

    @classmethod
    def of(cls, value: str | KafkaConnection) -> KafkaConnection:
        """``value`` itself, or a PLAINTEXT connection to the servers a string names."""
        return value if isinstance(value, KafkaConnection) else cls(bootstrap_servers=value)

    def client_config(self, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """A confluent-kafka (librdkafka) client configuration: servers, security, then ``extra``."""
        s = self.security
        conf: dict[str, Any] = {"bootstrap.servers": self.bootstrap_servers}
        if s.security_protocol != "PLAINTEXT":
            conf["security.protocol"] = s.security_protocol.lower()
        if s.uses_sasl:
            assert s.sasl_password is not None
            conf.update({"sasl.mechanism": s.sasl_mechanism, "sasl.username": s.sasl_username,
                         "sasl.password": s.sasl_password.get_secret_value()})
        if s.uses_tls:
            conf.update({k: str(v) for k, v in (("ssl.ca.location", s.ssl_cafile),
                                                ("ssl.certificate.location", s.ssl_certfile),
                                                ("ssl.key.location", s.ssl_keyfile)) if v is not None})
        return {**conf, **(extra or {})}

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context of the SSL protocols (server certificate and host name verified)."""
        s = self.security
        if not s.uses_tls:
            return None
        ctx = ssl.create_default_context(cafile=str(s.ssl_cafile) if s.ssl_cafile else None)
        if s.ssl_certfile is not None and s.ssl_keyfile is not None:
            ctx.load_cert_chain(str(s.ssl_certfile), str(s.ssl_keyfile))
        return ctx

    def faust_broker_kwargs(self) -> dict[str, Any]:
        """``faust.App`` arguments: ``broker`` URLs and, when secured, ``broker_credentials``."""
        import faust  # imported here: the CLI's confluent-kafka clients don't need faust

        kwargs: dict[str, Any] = {"broker": [f"kafka://{h.strip()}" for h in self.bootstrap_servers.split(",")]}
        s = self.security
        if s.uses_sasl:
            assert s.sasl_password is not None
            kwargs["broker_credentials"] = faust.SASLCredentials(
                username=s.sasl_username, password=s.sasl_password.get_secret_value(),
                mechanism=s.sasl_mechanism, ssl_context=self.ssl_context())
        elif s.uses_tls:
            kwargs["broker_credentials"] = faust.SSLCredentials(self.ssl_context())
        return kwargs

    def worker_env(self) -> dict[str, str]:
        """These settings as a child worker's environment (``MOVIEREC_`` names without the prefix)."""
        env = {"BOOTSTRAP_SERVERS": self.bootstrap_servers}
        for name, value in self.security.model_dump(exclude_defaults=True).items():
            secret = isinstance(value, SecretStr)
            env[f"KAFKA__{name.upper()}"] = value.get_secret_value() if secret else str(value)
        return env
