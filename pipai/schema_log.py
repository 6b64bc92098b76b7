"""Writer schemas shared through a compacted topic, so any reader resolves any writer.

Single-object encoding carries only the writer schema's fingerprint. A process
publishes every schema it writes with (key: fingerprint, value: the schema as
written, defaults included) when it builds its codec; a reader that meets an
unknown fingerprint, such as a record from a newer deployment with an added
field, loads the topic and resolves the record into its own reader schema.
"""

from __future__ import annotations

import json

from pipai.kafka.clients import new_producer
from pipai.kafka.reader import read_topic
from pipai.log import get_logger
from pipai.settings import Settings
from pipai.topics import Topics
from schemas.codec import Codec, SchemaStore, default_codec

log = get_logger("pipai.schema_log")


def publish_schemas(settings: Settings, store: SchemaStore, timeout_s: float = 30.0) -> None:
    topic = Topics.for_prefix(settings.topic_prefix).schemas
    producer = new_producer(settings)
    for fp, schema in store.writer_schemas().items():
        producer.produce(topic, key=fp.hex().encode(),
                         value=json.dumps(schema, sort_keys=True).encode())
    if producer.flush(timeout_s):
        raise RuntimeError(f"could not publish writer schemas to {topic}")


def load_schemas(settings: Settings, store: SchemaStore) -> int:
    """Add every published writer schema this store lacks; return how many were added."""
    topic = Topics.for_prefix(settings.topic_prefix).schemas
    added = 0
    for msg in read_topic(settings, topic):
        key, value = msg.key(), msg.value()
        if key is None or value is None or store.knows(bytes.fromhex(key.decode())):
            continue
        try:
            store.add(json.loads(value), reader=False)
            added += 1
        except Exception:  # untrusted bytes: not a schema, the codec calls the record poison
            continue
    return added


def kafka_codec(settings: Settings, publish: bool = True) -> Codec:
    """The bundled schemas (published when this process writes); unknown writers
    resolved from the topic."""
    codec = default_codec()
    if publish:
        try:
            publish_schemas(settings, codec.store, timeout_s=10.0)
        except Exception as exc:  # broker down: readers still work; the next start publishes
            log.warning("schemas_not_published", error=str(exc))

    def resolve(store: SchemaStore) -> None:
        load_schemas(settings, store)

    codec.resolve = resolve
    return codec
