package forge.workflow;

import io.temporal.activity.ActivityInterface;
import io.temporal.activity.ActivityMethod;

/**
 * The long-running training stages. Each resumes from the newest valid checkpoint of its run in S3, heartbeats
 * its progress, and on cancellation writes a checkpoint before it stops.
 */
@ActivityInterface
public interface StageActivities {
    @ActivityMethod(name = "Pretrain")
    StageResult pretrain(StageInput input);

    /** Fine-tunes input.parentCheckpoint (or the config's init_from) on prompt/response data. */
    @ActivityMethod(name = "Sft")
    StageResult sft(StageInput input);

    /** Trains a reward model on comparisons, its trunk from input.parentCheckpoint (or the config's init_from). */
    @ActivityMethod(name = "Reward")
    StageResult reward(StageInput input);

    /**
     * Optimises the SFT policy (input.earlierOutputs' sft, or the config's init_from) against the reward model
     * (input.parentCheckpoint, or the config's reward_from) with PPO.
     */
    @ActivityMethod(name = "Ppo")
    StageResult ppo(StageInput input);

    /**
     * Optimises the SFT policy (input.earlierOutputs' sft, or the config's init_from) with GRPO against its reward
     * sources: verifiers over the prompts' data, or a reward model (input.earlierOutputs' reward, or reward_from).
     */
    @ActivityMethod(name = "Grpo")
    StageResult grpo(StageInput input);

    /** Preference-optimises the SFT policy (input.earlierOutputs' sft, or the config's init_from) with DPO. */
    @ActivityMethod(name = "Dpo")
    StageResult dpo(StageInput input);
}
