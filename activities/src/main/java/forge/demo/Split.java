package forge.demo;

/** Training questions and held-out questions never share a problem (same operation and operands). */
public enum Split {
    TRAIN,
    HELD_OUT
}
