mod match_command;
