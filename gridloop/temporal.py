"""One way to reach Temporal, so every process uses the same data converter (and, with tracing
on, the same tracing interceptor: gridloop.tracing)."""

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from gridloop.tracing import client_interceptors


async def connect(address: str, namespace: str) -> Client:
    return await Client.connect(
        address,
        namespace=namespace,
        data_converter=pydantic_data_converter,
        interceptors=client_interceptors(),
    )
