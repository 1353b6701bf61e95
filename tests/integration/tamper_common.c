/* placeholder: being written */
extern int tamper_common_placeholder;
