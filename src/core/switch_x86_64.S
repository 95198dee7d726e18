/* Context switch for x86-64 (System V). A suspended context is its stack
 * pointer; from it upwards: MXCSR and x87 control word (8 bytes), r15,
 * r14, r13, r12, rbx, rbp, and the address to resume at. Everything else
 * is caller-saved, so the C caller of corio__switch has already spilled it. */
    .text

/* The switch proper, in two halves: save this context (its sp into
 * *rdi), then load the one whose sp is in rsi up to its resume address,
 * which is left on the stack. */
.macro SWITCH_SAVE
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    pushq $0           /* control words slot; its top 2 bytes stay 0 */
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
.endm

/* Expects this context's control words at (%rsp). */
.macro SWITCH_LOAD
    /* The control words rarely differ between contexts, and loading them
     * serialises the pipeline: compare first, load only on a change. Each
     * is read back with the width it was stored with, so the loads are
     * forwarded from the stores (one 8-byte load spanning both stalled). */
    movl (%rsp), %eax
    movzwl 4(%rsp), %edx
    movq %rsi, %rsp
    cmpl (%rsp), %eax
    jne 1f
    cmpw 4(%rsp), %dx
    jne 1f
2:  addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
.endm

.macro SWITCH_BODY
    SWITCH_SAVE
    SWITCH_LOAD
.endm

/* The control words, loaded only when they differ (see SWITCH_BODY). */
.macro SWITCH_LOAD_CW
1:  ldmxcsr (%rsp)
    fldcw 4(%rsp)
    jmp 2b
.endm

/* void corio__switch(void **save, void *load)
 * Resumes with `ret`: the return predictor guesses this call's own return
 * address, right when the other context suspended at the same call site
 * (two tasks handing off through the same wait). The return stack stays
 * balanced. */
    .globl corio__switch
    .hidden corio__switch
    .type corio__switch, @function
    .p2align 4
corio__switch:
    .cfi_startproc
    SWITCH_BODY
    ret
    SWITCH_LOAD_CW
    .cfi_endproc
    .size corio__switch, .-corio__switch

/* void corio__switch_jmp(void **save, void *load)
 * Resumes with an indirect jump, which the branch-target predictor learns
 * per pattern: better when the other context suspended somewhere else
 * (loop and task, creator and eager child), where `ret` would miss every
 * time. */
    .globl corio__switch_jmp
    .hidden corio__switch_jmp
    .type corio__switch_jmp, @function
    .p2align 4
corio__switch_jmp:
    .cfi_startproc
    SWITCH_BODY
    popq %rcx
    jmpq *%rcx
    SWITCH_LOAD_CW
    .cfi_endproc
    .size corio__switch_jmp, .-corio__switch_jmp

/* A fresh context starts here, jumped to by corio__switch_start: r12 = arg, r13 = entry.
 * rsp is 16-byte aligned, so the call leaves it as entry expects. entry
 * returns the saved sp of the context to resume; this one is over, so
 * only the load half of the switch runs. It resumes with `ret`, which the
 * return predictor gets right when the resumed context is the one that
 * switched here and entry returned without ever switching away: the
 * entry this `call` pushed was popped by entry's return, so the top one
 * is that context's own call of the switch. That is the common case of a
 * task that finishes in its first step (an eager child back to its
 * creator, a task back to the loop): no mispredicted return there or in
 * the creator's returns that follow. */
    .type corio__trampoline, @function
    .p2align 4
corio__trampoline:
    .cfi_startproc
    .cfi_undefined rip
    movq %r12, %rdi
    callq *%r13
    movq %rax, %rsi
    pushq $0
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    SWITCH_LOAD
    ret
    SWITCH_LOAD_CW
    .cfi_endproc
    .size corio__trampoline, .-corio__trampoline

/* void corio__switch_start(void **save, void *top, void *(*entry)(void *), void *arg)
 * A task's first step: saves this context as the switches do, then runs
 * entry(arg) on the fresh stack whose top is `top`, through the
 * trampoline. rbp is cleared so that a frame-pointer walk ends on the
 * fresh stack. This context resumes like one corio__switch_jmp saved
 * (the trampoline's `ret`, or a switch). */
    .globl corio__switch_start
    .hidden corio__switch_start
    .type corio__switch_start, @function
    .p2align 4
corio__switch_start:
    .cfi_startproc
    SWITCH_SAVE
    movq %rdx, %r13
    movq %rcx, %r12
    xorl %ebp, %ebp
    andq $-16, %rsi
    movq %rsi, %rsp
    jmp corio__trampoline
    .cfi_endproc
    .size corio__switch_start, .-corio__switch_start

    .section .note.GNU-stack, "", @progbits
