"""ProfileService over gRPC: converts messages and calls the domain service."""

from __future__ import annotations

import grpc

from idstitch.v1 import profile_service_pb2 as pb
from idstitch.v1 import profile_service_pb2_grpc as pb_grpc
from profiles.reader import Missing, ProfileReader
from server import profile_convert as convert
from usecases.person_requests import PersonRequests


class ProfileServicer(pb_grpc.ProfileServiceServicer):
    def __init__(self, *, render: ProfileReader, requests: PersonRequests) -> None:
        """`render`: profile reads for the page-render path, which the read cache may answer."""
        self._render = render
        self._requests = requests

    def GetProfile(
        self, request: pb.GetProfileRequest, context: grpc.ServicerContext
    ) -> pb.GetProfileResponse:
        mask = convert.check_mask(request.read_mask, "read_mask")
        found = self._render.get(convert.profile_key(request.key, "key"))
        return pb.GetProfileResponse(profile=convert.profile(found, mask))

    def BatchGetProfiles(
        self, request: pb.BatchGetProfilesRequest, context: grpc.ServicerContext
    ) -> pb.BatchGetProfilesResponse:
        mask = convert.check_mask(request.read_mask, "read_mask")
        keys = [convert.profile_key(k, f"keys[{i}]") for i, k in enumerate(request.keys)]
        out = pb.BatchGetProfilesResponse()
        got_all = self._render.get_many(keys)
        for i, got in enumerate(got_all):
            item = out.results.add(index=i)
            if isinstance(got, Missing):
                item.reason = got.reason
            else:
                item.found = True
                item.profile.CopyFrom(convert.profile(got, mask))
        return out

    def UpdateTraits(
        self, request: pb.UpdateTraitsRequest, context: grpc.ServicerContext
    ) -> pb.UpdateTraitsResponse:
        person_id, applied = self._requests.update_traits(
            convert.profile_key(request.key, "key"),
            request.request_id,
            convert.trait_inputs(list(request.traits), "traits"),
        )
        return pb.UpdateTraitsResponse(person_id=person_id, applied=applied)
