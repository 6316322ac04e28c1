#!/usr/bin/python3
"""Brook from Python: create a topic, produce keyed records, fetch them back.

    ./generate.sh                      # once: generate brook/v1/*_pb2*.py
    /usr/bin/python3 brook_example.py [--addr 127.0.0.1:7070] [--topic NAME]

Uses only the client generated from protos/ by protoc and grpcio.
Errors arrive as grpc.RpcError with a status code and, in the trailing
metadata, Brook's own code under "brook-error-code".
"""
import argparse
import sys
import time

import grpc

from brook.v1 import admin_pb2, admin_pb2_grpc, log_pb2, log_pb2_grpc


def brook_error_code(error: grpc.RpcError) -> str:
    for key, value in error.trailing_metadata() or ():
        if key == "brook-error-code":
            return value
    return ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addr", default="127.0.0.1:7070")
    parser.add_argument("--topic", default=f"python-example-{int(time.time())}")
    parser.add_argument("--partitions", type=int, default=3)
    args = parser.parse_args()

    with grpc.insecure_channel(args.addr) as channel:
        admin = admin_pb2_grpc.AdminStub(channel)
        log = log_pb2_grpc.LogStub(channel)

        try:
            admin.CreateTopic(admin_pb2.CreateTopicRequest(name=args.topic, partitions=args.partitions))
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.ALREADY_EXISTS:
                raise
        print(f"topic {args.topic} ({args.partitions} partitions)")

        # Keyed records: the broker puts each on its key's partition (Kafka's murmur2).
        records = [
            log_pb2.Record(key=f"user-{i % 4}".encode(), value=f"event {i}".encode(),
                           headers=[log_pb2.Header(key="source", value=b"python")])
            for i in range(10)
        ]
        produced = log.Produce(log_pb2.ProduceRequest(topic=args.topic, records=records))

        # Where each record went: record_indexes is empty when all went to one partition.
        placed = {}
        for result in produced.results:
            indexes = list(result.record_indexes) or list(range(len(records)))
            for n, index in enumerate(indexes):
                placed[index] = (result.partition, result.base_offset + n)
        for index, (partition, offset) in sorted(placed.items()):
            print(f"produced key={records[index].key.decode()} -> partition {partition} offset {offset}")

        # Fetch every partition back from offset 0.
        fetched = 0
        for result in produced.results:
            response = log.Fetch(log_pb2.FetchRequest(topic=args.topic, partition=result.partition, offset=0))
            for record in response.records:
                headers = ",".join(f"{h.key}={h.value.decode()}" for h in record.headers)
                print(f"fetched partition {result.partition} offset {record.offset}: "
                      f"key={record.key.decode()} value={record.value.decode()} headers={headers}")
                fetched += 1

        # An offset past the end is OUT_OF_RANGE; the message names the valid range.
        try:
            log.Fetch(log_pb2.FetchRequest(topic=args.topic, partition=0, offset=10**6))
        except grpc.RpcError as e:
            print(f"expected error: {e.code().name} {brook_error_code(e)}: {e.details()}")

    print(f"ok: produced {len(records)}, fetched {fetched}")
    return 0 if fetched >= len(records) else 1


if __name__ == "__main__":
    sys.exit(main())
