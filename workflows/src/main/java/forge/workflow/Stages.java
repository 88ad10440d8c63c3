package forge.workflow;

import java.util.List;

/**
 * The stages of the recipe, in the order they must run: the seed's four, then the two that replace reward modeling
 * and PPO — GRPO against verifiable rewards, DPO on the preference pairs — each starting from the SFT policy.
 */
public final class Stages {
    public static final String PRETRAIN = "pretrain";
    public static final String SFT = "sft";
    public static final String REWARD = "reward";
    public static final String PPO = "ppo";
    public static final String GRPO = "grpo";
    public static final String DPO = "dpo";

    public static final List<String> ORDER = List.of(PRETRAIN, SFT, REWARD, PPO, GRPO, DPO);
    /** Stages this version can run; the others are named so a spec using them gets a clear answer. */
    public static final List<String> AVAILABLE = List.of(PRETRAIN, SFT, REWARD, PPO, GRPO, DPO);

    private Stages() {}
}
