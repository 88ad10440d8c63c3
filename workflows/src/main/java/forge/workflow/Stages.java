package forge.workflow;

import java.util.List;

/** The four stages of the recipe, in the order they must run. */
public final class Stages {
    public static final String PRETRAIN = "pretrain";
    public static final String SFT = "sft";
    public static final String REWARD = "reward";
    public static final String PPO = "ppo";

    public static final List<String> ORDER = List.of(PRETRAIN, SFT, REWARD, PPO);
    /** Stages this version can run; the others are named so a spec using them gets a clear answer. */
    public static final List<String> AVAILABLE = List.of(PRETRAIN, SFT, REWARD, PPO);

    private Stages() {}
}
