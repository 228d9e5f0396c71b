/* ldr_apiset.S: a small apisetschema.dll. Its .apiset section holds the
** API_SET_NAMESPACE (version 6) that ldr_apiset.lua writes; the loader reads
** it from the search path to resolve api-ms-win-* and ext-ms-* names. */
        .text
        .globl  apiset_entry
apiset_entry:
        movl    $1, %eax
        ret

        .section .apiset,"dr"
        .p2align 2
        .incbin "apiset.bin"
