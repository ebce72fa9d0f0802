"""The JobRegistry contract with every rule of docs/contract.md (Ownable + Pausable)."""

from __future__ import annotations

from starknet_py.cairo.felt import encode_shortstring

from devchain.contracts.base import Frame, SimulatedContract, require
from veriframe_core.chain import rules
from veriframe_core.chain.rules import DEFAULT_MIN_REPUTATION, MAX_REPUTATION, START_REPUTATION

MISCONDUCT = encode_shortstring("misconduct")


class JobRegistry(SimulatedContract):
    abi_name = "job_registry"

    # ------------------------------------------------------------------ guards
    @staticmethod
    def _only_owner(frame: Frame) -> None:
        require(frame.caller == frame.read("owner"), "Caller is not the owner")

    @staticmethod
    def _not_paused(frame: Frame) -> None:
        require(not frame.read("paused"), "Pausable: paused")

    # ------------------------------------------------------------------ jobs
    def create_job(
        self,
        frame: Frame,
        asset_cid_part1: int,
        asset_cid_part2: int,
        reward_amount: int,
        deadline_timestamp: int,
    ) -> int:
        return self.create_job_with_requirements(
            frame,
            asset_cid_part1,
            asset_cid_part2,
            reward_amount,
            deadline_timestamp,
            DEFAULT_MIN_REPUTATION,
        )

    def create_job_with_requirements(
        self,
        frame: Frame,
        asset_cid_part1: int,
        asset_cid_part2: int,
        reward_amount: int,
        deadline_timestamp: int,
        min_reputation: int,
    ) -> int:
        self._not_paused(frame)
        creator = frame.caller
        require(creator != 0, "Caller is zero address")
        require(reward_amount > 0, "Reward must be positive")
        require(deadline_timestamp > frame.block_timestamp, "Deadline must be in future")
        require(min_reputation <= MAX_REPUTATION, "Invalid min reputation")
        job_id = frame.read("job_counter") + 1
        frame.write("job_counter", value=job_id)
        token = frame.read("reward_token_address")
        frame.call(token, "transfer_from", [creator, frame.address, *u256_felts(reward_amount)])
        frame.write("job_asset_cid_part1", job_id, value=asset_cid_part1)
        frame.write("job_asset_cid_part2", job_id, value=asset_cid_part2)
        frame.write("job_reward", job_id, value=reward_amount)
        frame.write("job_creator", job_id, value=creator)
        frame.write("job_deadline", job_id, value=deadline_timestamp)
        frame.write("job_minimum_reputation", job_id, value=min_reputation)
        frame.emit(
            "JobCreated",
            job_id=job_id,
            creator=creator,
            reward_amount=reward_amount,
            deadline=deadline_timestamp,
        )
        return job_id

    def submit_result(
        self, frame: Frame, job_id: int, result_cid_part1: int, result_cid_part2: int
    ) -> None:
        self._not_paused(frame)
        creator = frame.read("job_creator", job_id)
        require(creator != 0, "Job does not exist")
        require(frame.caller != creator, "Creator cannot submit result")
        require(frame.read("job_worker", job_id) == 0, "Job already has a worker")
        require(not frame.read("job_completed", job_id), "Job already completed")
        require(self.is_worker_eligible(frame, frame.caller, job_id), "Worker not eligible")
        frame.write("job_worker", job_id, value=frame.caller)
        frame.write("job_result_cid_part1", job_id, value=result_cid_part1)
        frame.write("job_result_cid_part2", job_id, value=result_cid_part2)
        frame.emit("ResultSubmitted", job_id=job_id, worker=frame.caller)

    def finalize_job(self, frame: Frame, job_id: int) -> None:
        self._not_paused(frame)
        require(frame.block_timestamp >= frame.read("job_deadline", job_id), "Deadline not reached")
        worker = frame.read("job_worker", job_id)
        require(worker != 0, "No worker assigned")
        require(not frame.read("job_completed", job_id), "Job already completed")
        reward = frame.read("job_reward", job_id)
        frame.write("job_completed", job_id, value=1)
        frame.call(frame.read("reward_token_address"), "transfer", [worker, *u256_felts(reward)])
        frame.emit("JobFinalized", job_id=job_id, worker=worker, reward_amount=reward)

    # ------------------------------------------------------------------ workers
    def register_worker(self, frame: Frame, worker_info_cid: int) -> None:
        self._not_paused(frame)
        worker = frame.caller
        require(worker != 0, "Caller is zero address")
        require(worker_info_cid != 0, "Invalid worker info CID")
        require(frame.read("worker_registration_time", worker) == 0, "Worker already registered")
        now = frame.block_timestamp
        frame.write("worker_verified", worker, value=0)
        frame.write("worker_reputation", worker, value=START_REPUTATION)
        frame.write("worker_jobs_completed", worker, value=0)
        frame.write("worker_jobs_failed", worker, value=0)
        frame.write("worker_info_cid", worker, value=worker_info_cid)
        frame.write("worker_registration_time", worker, value=now)
        frame.emit(
            "WorkerRegistered", worker=worker, info_cid=worker_info_cid, registration_time=now
        )

    def verify_worker(self, frame: Frame, worker: int, verification_status: bool) -> None:
        self._only_owner(frame)
        self._not_paused(frame)
        require(worker != 0, "Invalid worker address")
        require(frame.read("worker_registration_time", worker) != 0, "Worker not registered")
        current = frame.read("worker_reputation", worker)
        new = rules.reputation_after_verification(current, verification_status)
        frame.write("worker_verified", worker, value=int(verification_status))
        frame.write("worker_reputation", worker, value=new)
        frame.emit(
            "WorkerVerified", worker=worker, verified=verification_status, verifier=frame.caller
        )

    def update_worker_reputation(
        self, frame: Frame, worker: int, job_id: int, quality_score: int
    ) -> None:
        require(frame.caller == frame.read("job_creator", job_id), "Only job creator can rate")
        require(frame.read("job_worker", job_id) == worker, "Worker did not do this job")
        require(frame.read("job_completed", job_id), "Job not completed")
        require(quality_score <= rules.MAX_QUALITY_SCORE, "Invalid quality score")
        require(frame.read("job_quality_scores", job_id) == 0, "Job already rated")
        frame.write("job_quality_scores", job_id, value=quality_score)
        old = frame.read("worker_reputation", worker)
        outcome = rules.rating_outcome(old, quality_score)
        if outcome is None:
            return  # 40–59: no change, no event
        new, counter = outcome
        frame.write("worker_reputation", worker, value=new)
        key = f"worker_{counter}"
        frame.write(key, worker, value=frame.read(key, worker) + 1)
        frame.emit(
            "ReputationUpdated",
            worker=worker,
            job_id=job_id,
            old_reputation=old,
            new_reputation=new,
            quality_score=quality_score,
        )

    def slash_worker_reputation(self, frame: Frame, worker: int, slash_amount: int) -> None:
        self._only_owner(frame)
        self._not_paused(frame)
        require(worker != 0, "Invalid worker address")
        require(slash_amount > 0, "Slash amount must be positive")
        old = frame.read("worker_reputation", worker)
        new = rules.reputation_after_slash(old, slash_amount)
        frame.write("worker_reputation", worker, value=new)
        failed = frame.read("worker_jobs_failed", worker)
        frame.write("worker_jobs_failed", worker, value=failed + 1)
        frame.emit(
            "ReputationSlashed",
            worker=worker,
            old_reputation=old,
            new_reputation=new,
            slash_amount=slash_amount,
            reason=MISCONDUCT,
        )

    # ------------------------------------------------------------------ pause / ownership
    def pause(self, frame: Frame) -> None:
        self._only_owner(frame)
        self._not_paused(frame)
        frame.write("paused", value=1)
        frame.emit("Paused", account=frame.caller)

    def unpause(self, frame: Frame) -> None:
        self._only_owner(frame)
        require(frame.read("paused"), "Pausable: not paused")
        frame.write("paused", value=0)
        frame.emit("Unpaused", account=frame.caller)

    def owner(self, frame: Frame) -> int:
        return frame.read("owner")

    def transfer_ownership(self, frame: Frame, new_owner: int) -> None:
        self._only_owner(frame)
        require(new_owner != 0, "New owner is the zero address")
        self._set_owner(frame, new_owner)

    def renounce_ownership(self, frame: Frame) -> None:
        self._only_owner(frame)
        self._set_owner(frame, 0)

    @staticmethod
    def _set_owner(frame: Frame, new_owner: int) -> None:
        previous = frame.read("owner")
        frame.write("owner", value=new_owner)
        frame.emit("OwnershipTransferred", previous_owner=previous, new_owner=new_owner)

    def initialize(self, frame: Frame, owner: int, reward_token_address: int) -> None:
        """The constructor: run once at deployment."""
        frame.write("reward_token_address", value=reward_token_address)
        self._set_owner(frame, owner)

    # ------------------------------------------------------------------ views
    def is_paused(self, frame: Frame) -> bool:
        return bool(frame.read("paused"))

    def get_worker_status(self, frame: Frame, worker: int) -> tuple[bool, int, int, int]:
        return (
            bool(frame.read("worker_verified", worker)),
            frame.read("worker_reputation", worker),
            frame.read("worker_jobs_completed", worker),
            frame.read("worker_jobs_failed", worker),
        )

    def get_minimum_reputation_for_job(self, frame: Frame, job_id: int) -> int:
        return rules.min_reputation_of(frame.read("job_minimum_reputation", job_id))

    def is_worker_eligible(self, frame: Frame, worker: int, job_id: int) -> bool:
        return rules.is_worker_eligible(
            registered=frame.read("worker_registration_time", worker) != 0,
            verified=bool(frame.read("worker_verified", worker)),
            reputation=frame.read("worker_reputation", worker),
            jobs_completed=frame.read("worker_jobs_completed", worker),
            jobs_failed=frame.read("worker_jobs_failed", worker),
            min_reputation=frame.read("job_minimum_reputation", job_id),
        )

    def get_job_counter(self, frame: Frame) -> int:
        return frame.read("job_counter")

    def get_job_creator(self, frame: Frame, job_id: int) -> int:
        return frame.read("job_creator", job_id)

    def get_job_worker(self, frame: Frame, job_id: int) -> int:
        return frame.read("job_worker", job_id)

    def get_job_reward(self, frame: Frame, job_id: int) -> int:
        return frame.read("job_reward", job_id)

    def get_job_asset_cid(self, frame: Frame, job_id: int) -> tuple[int, int]:
        return frame.read("job_asset_cid_part1", job_id), frame.read("job_asset_cid_part2", job_id)

    def get_job_deadline(self, frame: Frame, job_id: int) -> int:
        return frame.read("job_deadline", job_id)

    def is_job_completed(self, frame: Frame, job_id: int) -> bool:
        return bool(frame.read("job_completed", job_id))


def u256_felts(value: int) -> list[int]:
    """A u256 as Cairo serializes it: (low, high)."""
    return [value % 2**128, value >> 128]
